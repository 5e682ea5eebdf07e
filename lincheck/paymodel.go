package lincheck

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Payments: the caller's view of one payment. Only Pay runs on a payment
// until its Pay has returned (the clients take payments from the pool
// only then), so Pay is one step here; its steps inside (hold,
// authorise, capture) are the account's business. A capture is two steps:
// the decision, which takes the balance part and is when the capture
// happens for everyone else, and the card's capture, which some later
// unit of work records (the caller's, a retry's or a sweep's) before the
// caller is told it succeeded; in between the payment is capturing, and a
// refund is refused.

type payKind uint8

const (
	pPay payKind = iota + 1
	pDecide
	pComplete
	pCancel
	pRefund
	pGet
)

var payNames = map[payKind]string{pPay: "pay", pDecide: "capture", pComplete: "card captured", pCancel: "cancel", pRefund: "refund", pGet: "get"}

type payIn struct {
	Kind      payKind
	Call      int
	Amount    int64 // pay: the total; capture, refund: the amount
	Later     bool  // pay: CaptureLater
	Declining bool  // pay: the instrument is one the processor declines
}

type payOut struct {
	Code    string
	X, Y    int64 // pay: the split; capture: captured from the balance; refund: to the balance, to the card; get: captured
	State   string
	Refunds int
}

type payStage uint8

const (
	sNone payStage = iota
	sAuthorized
	sDecided // capture decided, card capture outstanding
	sCaptured
	sCancelled
	sFailed
)

type payState struct {
	Stage        payStage
	Later        bool
	Total, X     int64 // X: the balance part of the split
	CapB, CapC   int64 // captured from the balance and the card
	LeftB, LeftC int64 // what is left to refund of each
	Refunds      int
}

// payApply is the payment's step.
func payApply(s payState, in payIn, out payOut) (payState, bool) {
	switch in.Kind {
	case pPay:
		return payPay(s, in, out)
	case pDecide:
		return payCapture(s, in, out)
	case pComplete:
		if s.Stage != sDecided {
			return s, false
		}
		s.Stage = sCaptured
		return s, true
	case pCancel:
		if out.Code == "" && s.Stage == sAuthorized {
			s.Stage = sCancelled
			return s, true
		}
		return s, refusedFor(s, out.Code, sAuthorized)
	case pRefund:
		return payRefund(s, in, out)
	case pGet:
		return s, payRead(s, out)
	}
	return s, false
}

// refusedFor reports whether code is the refusal of a call that needs
// stage, in s.
func refusedFor(s payState, code string, stage payStage) bool {
	switch code {
	case "checkout.payment_not_found":
		return s.Stage == sNone
	case "checkout.invalid_state":
		return s.Stage != sNone && s.Stage != stage
	}
	return false
}

func payPay(s payState, in payIn, out payOut) (payState, bool) {
	if s.Stage != sNone {
		return s, false
	}
	card := in.Amount - out.X
	switch out.Code {
	case "checkout.instrument_required":
		return s, true // the account's model checks the split
	case "checkout.declined":
		s.Stage = sFailed
		return s, in.Declining && card > 0
	case "":
	default:
		return s, false
	}
	if out.X < 0 || out.X+out.Y != in.Amount || (in.Declining && card > 0) {
		return s, false
	}
	s.Later, s.Total, s.X = in.Later, in.Amount, out.X
	if in.Later {
		s.Stage = sAuthorized
		return s, out.State == "authorized"
	}
	s.Stage, s.CapB, s.CapC = sCaptured, out.X, card
	s.LeftB, s.LeftC = s.CapB, s.CapC
	return s, out.State == "captured"
}

func payCapture(s payState, in payIn, out payOut) (payState, bool) {
	if out.Code != "" {
		if s.Stage == sAuthorized && !s.Later { // CaptureNow: captured by Pay
			return s, out.Code == "checkout.invalid_state"
		}
		return s, refusedFor(s, out.Code, sAuthorized)
	}
	if s.Stage != sAuthorized || !s.Later {
		return s, false
	}
	s.Stage = sDecided
	s.CapB = min(in.Amount, s.X)
	s.CapC = in.Amount - s.CapB
	s.LeftB, s.LeftC = s.CapB, s.CapC
	return s, out.X == s.CapB
}

func payRefund(s payState, in payIn, out payOut) (payState, bool) {
	left := s.LeftB + s.LeftC
	switch out.Code {
	case "":
	case "checkout.exceeds_captured":
		return s, s.Stage == sCaptured && in.Amount > left
	default:
		return s, refusedFor(s, out.Code, sCaptured)
	}
	toCard := min(in.Amount, s.LeftC) // the default policy: the card first
	if s.Stage != sCaptured || in.Amount > left || out.Y != toCard || out.X != in.Amount-toCard {
		return s, false
	}
	s.LeftC -= toCard
	s.LeftB -= out.X
	s.Refunds++
	return s, true
}

// payRead checks a read of the payment against the model: its state (an
// unwinding cancellation reads as cancelled, the void being the
// processor's business), what it captured, and how many refunds it has.
func payRead(s payState, out payOut) bool {
	if out.Code == "checkout.payment_not_found" {
		return s.Stage == sNone
	}
	if out.Code != "" || out.Refunds != s.Refunds {
		return false
	}
	switch s.Stage {
	case sAuthorized:
		return out.State == "authorized" && out.X == 0
	case sDecided:
		return out.State == "capturing" && out.X == s.CapB
	case sCaptured:
		return out.State == "captured" && out.X == s.CapB && out.Y == s.CapC
	case sCancelled:
		return (out.State == "cancelled" || out.State == "unwinding") && out.X == 0
	case sFailed:
		return out.State == "failed"
	}
	return false
}

var paymentModel = porcupine.Model{
	Init: func() any { return payState{} },
	Step: func(state, input, output any) (bool, any) {
		next, ok := payApply(state.(payState), input.(payIn), output.(payOut))
		return ok, next
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(payIn), output.(payOut)
		return fmt.Sprintf("#%d %s %d → %q x %d y %d %s refunds %d", in.Call, payNames[in.Kind], in.Amount, out.Code, out.X, out.Y, out.State, out.Refunds)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%+v", state) },
}
