/** The trust graph drawn with React Flow: the caller's tenant in the centre, its counterparts
 * around it, one arrow per direction labelled with its outcome counts (a link to the filtered
 * delegations) and coloured by its dominant outcome. The table beside it is the accessible
 * rendering; this drawing is labelled as a whole. */
import "@xyflow/react/dist/style.css";

import {
  BaseEdge,
  Controls,
  EdgeLabelRenderer,
  Handle,
  MarkerType,
  Position,
  ReactFlow,
  useInternalNode,
  type Edge,
  type EdgeProps,
  type Node,
  type NodeProps,
} from "@xyflow/react";

import { navigate, onNavigate } from "../../components/router";
import type { TrustGraph } from "./api";
import { layout, rowsOf, TONE, type Tone } from "./model";

type TenantData = { label: string; centre: boolean };
type TenantNode = Node<TenantData, "tenant">;
type OutcomeData = { label: string; tone: Tone | "none"; href: string };
type OutcomeEdge = Edge<OutcomeData, "outcome">;

/** Stroke colours by tone; each reaches 4.5:1 on white, and the label says the outcomes in words. */
const COLOURS: Record<Tone | "none", string> = {
  good: "#0b5d1e",
  wait: "#7a4d00",
  bad: "#a4161a",
  over: "#4a4f57",
  none: "#4a4f57",
};
const GAP = 14; // px between the two directions' arrows

function TenantBox({ data }: NodeProps<TenantNode>) {
  return (
    <div className={data.centre ? "tenant-node centre" : "tenant-node"}>
      <Handle type="target" position={Position.Top} className="graph-handle" isConnectable={false} />
      <span className="tenant-name">{data.label}</span>
      {data.centre && <span className="tenant-note">your organisation</span>}
      <Handle type="source" position={Position.Bottom} className="graph-handle" isConnectable={false} />
    </div>
  );
}

/** Where the segment from the centre (cx, cy) towards (tx, ty) leaves a box of half-size hw × hh. */
function boxExit(cx: number, cy: number, tx: number, ty: number, hw: number, hh: number): [number, number] {
  const dx = tx - cx;
  const dy = ty - cy;
  const t = Math.min(dx === 0 ? Infinity : hw / Math.abs(dx), dy === 0 ? Infinity : hh / Math.abs(dy), 1);
  return [cx + dx * t, cy + dy * t];
}

function OutcomeArrow({ id, source, target, sourceX, sourceY, targetX, targetY, data, markerEnd }: EdgeProps<OutcomeEdge>) {
  const from = useInternalNode(source);
  const to = useInternalNode(target);
  const length = Math.hypot(targetX - sourceX, targetY - sourceY) || 1;
  // The two directions between a pair run side by side: each is shifted to its own right.
  const nx = (-(targetY - sourceY) / length) * GAP;
  const ny = ((targetX - sourceX) / length) * GAP;
  const [ax, ay] = [sourceX + nx, sourceY + ny];
  const [bx, by] = [targetX + nx, targetY + ny];
  const pad = 6;
  const [sx, sy] = boxExit(ax, ay, bx, by, (from?.measured.width ?? 160) / 2 + pad, (from?.measured.height ?? 50) / 2 + pad);
  const [ex, ey] = boxExit(bx, by, ax, ay, (to?.measured.width ?? 160) / 2 + pad, (to?.measured.height ?? 50) / 2 + pad);
  // Each label sits beside the middle of its arrow, on the arrow's own side (the two directions'
  // labels on opposite sides), its near edge anchored there.
  const [ux, uy] = [nx / GAP, ny / GAP];
  const lx = (sx + ex) / 2 + ux * 6;
  const ly = (sy + ey) / 2 + uy * 6;
  const anchor = `translate(${-50 + 50 * ux}%, ${-50 + 50 * uy}%)`;
  const tone = data?.tone ?? "none";
  const href = data?.href ?? "";
  return (
    <>
      <BaseEdge id={id} path={`M ${sx},${sy} L ${ex},${ey}`} className={`tone-${tone}`} {...(markerEnd ? { markerEnd } : {})} />
      <EdgeLabelRenderer>
        <a
          className={`graph-edge-label nodrag nopan tone-${tone}`}
          style={{ transform: `translate(${lx}px, ${ly}px) ${anchor}` }}
          href={href}
          onClick={onNavigate(href)}
        >
          {data?.label}
        </a>
      </EdgeLabelRenderer>
    </>
  );
}

const NODE_TYPES = { tenant: TenantBox };
const EDGE_TYPES = { outcome: OutcomeArrow };

export function GraphCanvas({ graph, label }: { graph: TrustGraph; label: string }) {
  const nodes: TenantNode[] = layout(graph).map((p) => ({
    id: p.id,
    type: "tenant",
    position: { x: p.x, y: p.y },
    data: { label: p.label, centre: p.centre },
    ariaRole: "group",
    ariaLabel: p.centre ? `${p.label} (your organisation)` : p.label,
  }));
  const me = graph.tenant.tenant_id;
  const edges: OutcomeEdge[] = rowsOf(graph).map((row) => {
    const tone = row.dominant ? TONE[row.dominant] : "none";
    const [source, target] = row.direction === "outbound" ? [me, row.counterpartId] : [row.counterpartId, me];
    return {
      id: row.key,
      source,
      target,
      type: "outcome",
      data: { label: row.label, tone, href: row.href },
      ariaLabel: `${row.route}: ${row.label}`,
      markerEnd: { type: MarkerType.ArrowClosed, color: COLOURS[tone], width: 18, height: 18 },
    };
  });
  return (
    <div className="graph-canvas">
      <ReactFlow<TenantNode, OutcomeEdge>
        aria-label={label}
        nodes={nodes}
        edges={edges}
        nodeTypes={NODE_TYPES}
        edgeTypes={EDGE_TYPES}
        nodeOrigin={[0.5, 0.5]}
        nodesDraggable={false}
        nodesConnectable={false}
        nodesFocusable={false}
        edgesFocusable={false}
        elementsSelectable={false}
        disableKeyboardA11y
        zoomOnScroll={false}
        preventScrolling={false}
        fitView
        fitViewOptions={{ padding: 0.25 }}
        onEdgeClick={(_event, edge) => {
          if (edge.data) navigate(edge.data.href);
        }}
      >
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
