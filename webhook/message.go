package webhook

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/outbox"
)

// A Message is the body of a webhook: an outbox event in the Standard
// Webhooks envelope (type, timestamp, data) with the event's other fields
// beside them. A receiver decodes the body into a Message after
// [Verifier.Verify] accepts it, and dedupes by ID. The zero Message is not
// a valid event.
type Message struct {
	Type      outbox.Type      `json:"type"`      // what happened, "card.issued", ...
	Timestamp time.Time        `json:"timestamp"` // when it happened (the event's At, not the attempt's time), RFC 3339, UTC
	ID        string           `json:"id"`        // the event's ID: also the webhook-id header, the same on every attempt
	Version   int              `json:"version"`   // the schema version of Data (see outbox.Version)
	Aggregate outbox.Aggregate `json:"aggregate"` // the card, account or payment it is about
	Seq       int64            `json:"seq"`       // 1, 2, 3, ... within the aggregate
	Actor     giftkit.Actor    `json:"actor"`     // who made the change
	Pos       int64            `json:"pos"`       // the event's position in the sender's outbox
	Data      json.RawMessage  `json:"data"`      // the event's payload, documented per Type
}

// NewMessage returns the message of e.
func NewMessage(e outbox.Event) Message {
	return Message{
		Type: e.Type, Timestamp: e.At.UTC(), ID: e.ID, Version: e.Version, Aggregate: e.Aggregate,
		Seq: e.Seq, Actor: e.Actor, Pos: e.Pos, Data: e.Payload,
	}
}

// Event returns the event m carries. Its Payload is m.Data, not a copy.
func (m Message) Event() outbox.Event {
	return outbox.Event{
		ID: m.ID, Type: m.Type, Version: m.Version, Aggregate: m.Aggregate, Seq: m.Seq,
		Actor: m.Actor, At: m.Timestamp, Pos: m.Pos, Payload: m.Data,
	}
}

// encodeBody returns the JSON body of e's webhook. The payload goes in
// compacted but otherwise as the outbox holds it: no HTML escaping, which a
// receiver does not need.
func encodeBody(e outbox.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(NewMessage(e)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
