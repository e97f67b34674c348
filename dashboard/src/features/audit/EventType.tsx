import { TONE_WORDS, toneOf } from "./eventTone";
import "./audit.css";

/** An audit event's type in its colour, with a word that says the same as the colour. */
export function EventType({ type }: { type: string }) {
  const tone = toneOf(type);
  return (
    <span className={`event-type tone-${tone}`}>
      <code>{type}</code> <span className="tone-word">({TONE_WORDS[tone]})</span>
    </span>
  );
}
