import { useEffect, useId, useState } from "react";

import { QueryState } from "../../components/Feedback";
import { onNavigate, type PageProps } from "../../components/router";
import { useTrustGraph, type TrustGraph } from "./api";
import { GraphCanvas } from "./GraphCanvas";
import { DEFAULT_WINDOW_DAYS, OUTCOMES, rowsOf, sinceFor, TONE, utcDay, WINDOWS } from "./model";
import "./graph.css";

/** Whom this organisation dealt with and how it went: a drawing and the same data as a table. */
export function GraphPage(_props: PageProps) {
  const [span, setSpan] = useState(() => ({ days: DEFAULT_WINDOW_DAYS, since: sinceFor(DEFAULT_WINDOW_DAYS, Date.now()) }));
  const windowId = useId();
  const graph = useTrustGraph(span.since);

  useEffect(() => {
    document.title = "Trust graph · VaultGuard";
    return () => {
      document.title = "VaultGuard";
    };
  }, []);

  return (
    <main className="graph-page">
      <h1>Trust graph</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={windowId}>Time window</label>
        <select
          id={windowId}
          value={span.days}
          onChange={(e) => {
            const days = Number(e.target.value);
            setSpan({ days, since: sinceFor(days, Date.now()) });
          }}
        >
          {WINDOWS.map((w) => (
            <option key={w.days} value={w.days}>
              {w.label}
            </option>
          ))}
        </select>
      </form>
      <QueryState query={graph} subject="The trust graph" loading="Loading the trust graph…" live />
      {graph.data && <Graph graph={graph.data} />}
    </main>
  );
}

function Graph({ graph }: { graph: TrustGraph }) {
  const rows = rowsOf(graph);
  const me = graph.tenant.name || graph.tenant.tenant_id;
  const from = utcDay(graph.since);
  return (
    <>
      <p role="status" className="graph-since">
        Delegation outcomes counted since {from} (UTC).
      </p>
      {rows.length === 0 ? (
        <p>No delegations with other organisations in this window.</p>
      ) : (
        <>
          <GraphCanvas
            graph={graph}
            label={`Drawing of ${me}'s trust graph since ${from}: ${rows.length} ${rows.length === 1 ? "connection" : "connections"}; the table below lists the same data.`}
          />
          <p className="graph-legend">
            Each arrow points from the requesting organisation to the receiving one; its label lists the
            outcomes and links to those delegations. Its colour shows the most frequent outcome:{" "}
            <span className="tone-good">green ALLOW or APPROVED</span>, <span className="tone-wait">amber STEP_UP</span>,{" "}
            <span className="tone-bad">red BLOCK or REJECTED</span>, <span className="tone-over">grey EXPIRED or REVOKED</span>.
          </p>
        </>
      )}
      <table className="graph-table">
        <caption>
          Delegation outcomes between {me} and each counterpart since {from}
        </caption>
        <thead>
          <tr>
            <th scope="col">Counterpart</th>
            <th scope="col">Direction</th>
            {OUTCOMES.map((o) => (
              <th scope="col" key={o}>
                {o}
              </th>
            ))}
            <th scope="col">Total</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.key}>
              <th scope="row">{row.counterpart}</th>
              <td>
                <a href={row.href} onClick={onNavigate(row.href)}>
                  {row.direction === "inbound" ? "Inbound" : "Outbound"}
                  <span className="visually-hidden"> delegations with {row.counterpart}</span>
                </a>
                <br />
                <span className="graph-route">{row.route}</span>
              </td>
              {OUTCOMES.map((o) => (
                <td key={o} className={row.counts[o] > 0 ? `count tone-${TONE[o]}` : "count"}>
                  {row.counts[o]}
                </td>
              ))}
              <td className="count">{row.total}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
