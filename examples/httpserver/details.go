package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// The details of problem documents, one function per row of failures. Each
// reads the values it needs from the library's typed errors (an amount, a
// state, a wait), and writes them for the person who made the request: an
// order by the ID they chose, a card only as "this card", a wait in whole
// seconds. None shows err.Error(), which goes to the log.

// cardError returns the *giftcard.Error in err's chain, or a zero one,
// whose fields read as absent.
func cardError(err error) *giftcard.Error {
	if e := (*giftcard.Error)(nil); errors.As(err, &e) {
		return e
	}
	return &giftcard.Error{}
}

// walletError returns the *wallet.Error in err's chain, or a zero one.
func walletError(err error) *wallet.Error {
	if e := (*wallet.Error)(nil); errors.As(err, &e) {
		return e
	}
	return &wallet.Error{}
}

// checkoutError returns the *checkout.Error in err's chain, or a zero one.
func checkoutError(err error) *checkout.Error {
	if e := (*checkout.Error)(nil); errors.As(err, &e) {
		return e
	}
	return &checkout.Error{}
}

// requestDetail is a *requestError's own detail, written here for people.
func requestDetail(err error) string {
	if re := (*requestError)(nil); errors.As(err, &re) {
		return re.detail
	}
	return "the request is malformed"
}

// keyDetail explains an Idempotency-Key the library refused.
func keyDetail(error) string {
	return fmt.Sprintf("the Idempotency-Key header must be 1 to %d bytes of text without control characters", giftkit.MaxKeyLen)
}

// paidCard returns the masked code of the gift card a payment's refusal is
// about, as checkout's detail names it ("gift card ****-******-*8DM3 ...");
// "" if the refusal is not a payment's, or names no card.
func paidCard(err error) string {
	ce := checkoutError(err)
	if ce.Op != "pay" {
		return ""
	}
	rest, ok := strings.CutPrefix(ce.Detail, "gift card ")
	if f := strings.Fields(rest); ok && len(f) > 0 {
		return strings.TrimSuffix(f[0], ":")
	}
	return ""
}

// cardOperation reports whether err refuses an operation on a card named
// by its ID (a reload, a transfer, a merge): the caller is the admin or a
// till, not the card's holder.
func cardOperation(err error) bool {
	switch cardError(err).Op {
	case "reload", "transfer", "merge", "card_funds":
		return true
	}
	return false
}

// redeemedDetail says into which account the card was redeemed: this one or
// another; for a card given to pay, checked or reloaded, that its value is
// on an account's balance.
func redeemedDetail(err error) string {
	switch m := paidCard(err); {
	case m != "":
		return "the gift card " + m + " was redeemed into an account, so its value is on that account's balance, not on the card: it cannot pay by its code"
	case cardOperation(err):
		return "this card was redeemed into an account, so its value is on that account's balance: none can be added to the card or moved from it"
	case cardError(err).Op == "check_balance":
		return thisCard(err) + " has been redeemed into an account: its value is on that account's balance"
	}
	if cardError(err).SameAccount {
		return thisCard(err) + " has already been redeemed into this account"
	}
	return thisCard(err) + " has already been redeemed into another account"
}

// thisCard names the card of err for the shopper who typed its code: by the
// masked code ("this card, ****-******-*8DM3"), never by its ID.
func thisCard(err error) string {
	if masked := cardError(err).Masked; masked != "" {
		return "this card, " + masked + ","
	}
	return "this card"
}

// notRedeemableDetail says the same of every code that cannot be redeemed,
// used or checked, known or not, so that guessing tells nothing. The admin
// and tills, who name a card by its ID, learn that it is not active.
func notRedeemableDetail(err error) string {
	switch m := paidCard(err); {
	case m != "":
		return "the gift card " + m + " cannot be used: check its code against the card, and ask the seller if it still fails"
	case cardOperation(err):
		return "this card is not active (it is pending, blocked or voided), so no value can be added to it or moved from it"
	case cardError(err).Op == "check_balance":
		return "no card that can be used has this code: check it against the card, and ask the seller if it still fails"
	}
	return "this code cannot be redeemed: check it against the card, and ask the seller if it still fails"
}

// externalCodeDetail explains a code that reads as no code at all.
func externalCodeDetail(err error) string {
	return whichCode(err) + "this cannot be read as a gift card's code: check it against the card"
}

// noBalanceDetail says that a card has nothing left: to pay with, or to
// move.
func noBalanceDetail(err error) string {
	switch m := paidCard(err); {
	case m != "":
		return "the gift card " + m + " has nothing left to spend: take it out of the order"
	case cardOperation(err):
		return thisCard(err) + " has nothing available to move"
	}
	return thisCard(err) + " has nothing left on it: its value was spent, moved or has expired"
}

// programmeDetail says which rule of the programme a change would break, as
// the library words it: "the rules of EU anonymous prepaid do not allow
// this: maximum card balance is 150.00 EUR, would be 160.00 EUR".
func programmeDetail(err error) string {
	var text string
	if re := (*giftcard.RuleError)(nil); errors.As(err, &re) {
		text = re.Error()
	} else if text = walletError(err).Detail; text == "" {
		text = cardError(err).Detail
	}
	text = strings.TrimPrefix(text, "giftcard: ")
	label, rule, ok := strings.Cut(text, ": ")
	switch {
	case !ok || rule == "":
		return "the programme's rules do not allow this"
	case label == "programme":
		return "the programme's rules do not allow this: " + rule
	}
	return "the rules of " + label + " do not allow this: " + rule
}

// attemptsDetail says how long the limiter locks the caller out, in whole
// seconds, as Retry-After does.
func attemptsDetail(err error) string {
	what := "to redeem a code"
	if op := walletError(err).Op; op != "" && op != "redeem" {
		what = "with gift card codes" // a balance check, a payment
	}
	if wait := walletError(err).RetryAfter; wait > 0 {
		return "too many failed attempts " + what + ": try again in " + seconds(wholeSeconds(wait))
	}
	return "too many failed attempts " + what + ": try again later"
}

// rateLimitedDetail says how long to wait, in whole seconds.
func rateLimitedDetail(err error) string {
	if wait := walletError(err).RetryAfter; wait > 0 {
		return "too many requests: try again in " + seconds(wholeSeconds(wait))
	}
	return "too many requests: try again later"
}

// processorDetail says the order is open and how to finish it.
func processorDetail(error) string {
	return "the card processor did not answer, so the order is still open: retry in " +
		seconds(wholeSeconds(processorRetry)) + " with the same Idempotency-Key, which finishes it exactly once"
}

// unavailableDetail says to retry with the same key.
func unavailableDetail(error) string {
	return "a service this request needs did not answer: retry in " +
		seconds(wholeSeconds(processorRetry)) + " with the same Idempotency-Key"
}

// keyReusedDetail explains a key used before for another request; for a
// payment, also an order paid before under another key.
func keyReusedDetail(err error) string {
	if checkoutError(err).Op == "pay" {
		return "this order was already paid with a different request or Idempotency-Key: to retry, send the first request with its key; to pay another order, give it a new order ID"
	}
	return "this Idempotency-Key was already used for a different request: send a new key with each new request"
}

// tooLargeDetail explains a capture or refund of more than there is.
func tooLargeDetail(err error) string {
	ce, we := checkoutError(err), walletError(err)
	switch {
	case errors.Is(err, checkout.ErrExceedsAuthorized) && ce.Amount.IsValid():
		return fmt.Sprintf("cannot capture %s: that is more than the order's total", ce.Amount)
	case errors.Is(err, checkout.ErrExceedsAuthorized):
		return "cannot capture more than the order's total"
	case errors.Is(err, checkout.ErrExceedsCaptured) && ce.Amount.IsValid():
		return fmt.Sprintf("cannot refund %s: that is more than is left to refund on the order", ce.Amount)
	case errors.Is(err, checkout.ErrExceedsCaptured):
		return "cannot refund more than is left to refund on the order"
	case we.Amount.IsValid() && we.Available.IsValid():
		return fmt.Sprintf("cannot capture %s: the hold is only %s", we.Amount, we.Available)
	}
	return "the amount is more than the hold"
}

// invalidDetail explains a request the library refused as invalid.
func invalidDetail(err error) string {
	var ae *giftkit.AmountError
	switch {
	case errors.As(err, &ae):
		return amountDetail(ae)
	case errors.Is(err, activity.ErrInvalidActor):
		return "only staff may do this, and only with a reason"
	case errors.Is(err, giftcard.ErrInvalidRequest) && cardError(err).Detail != "":
		detail := strings.TrimPrefix(cardError(err).Detail, "giftcard: ") // a programme's refusal of an issue
		switch cardError(err).Op {
		case "adjust":
			return "cannot adjust this card: " + detail
		case "clawback":
			return "cannot claw back this card's value: " + detail
		}
		return "cannot issue these cards: " + detail
	case errors.Is(err, wallet.ErrInvalidExpiry):
		return "the expiry must be in the future"
	case errors.Is(err, wallet.ErrInvalidReference):
		return fmt.Sprintf("a reference must be 1 to %d bytes of UTF-8 without control characters", wallet.MaxReferenceLen)
	case errors.Is(err, wallet.ErrInvalidAmount) && walletError(err).Detail == "a card cannot receive its own value":
		return `a card cannot receive its own value: name another card as "to"`
	case errors.Is(err, wallet.ErrInvalidAmount):
		return "the amount must be more than zero"
	case errors.Is(err, wallet.ErrInvalidOwner):
		return fmt.Sprintf("an account ID must be 1 to %d bytes of UTF-8 without control characters", wallet.MaxOwnerLen)
	case errors.Is(err, checkout.ErrInstrumentRequired):
		what := "the balance does not cover"
		switch te := tendered(err); {
		case te != nil && te.guest:
			what = "the gift cards do not cover"
		case te != nil:
			what = "the gift cards and the balance do not cover"
		}
		if rest := checkoutError(err).Amount; rest.IsValid() {
			return fmt.Sprintf(`%s the whole order: give a bank card as "instrument" for the rest, %s`, what, rest)
		}
		return what + ` the whole order: give a bank card as "instrument" for the rest`
	case errors.Is(err, checkout.ErrInvalidOrder) && checkoutError(err).Detail != "":
		return "this order cannot be paid: " + checkoutError(err).Detail
	}
	return "the request is not valid"
}

// amountDetail explains an amount that does not parse or does not fit.
func amountDetail(ae *giftkit.AmountError) string {
	switch {
	case errors.Is(ae, giftkit.ErrOverflow):
		return "an amount is too large"
	case errors.Is(ae, giftkit.ErrPrecision):
		return "an amount has more decimal places than its currency has (EUR has 2, JPY none)"
	case errors.Is(ae, giftkit.ErrUnknownCurrency):
		return "an amount's currency is not an ISO 4217 code such as EUR"
	case errors.Is(ae, giftkit.ErrCurrencyMismatch):
		return currencyDetail(ae)
	}
	return `an amount must be a decimal string such as "12.50": digits with at most one point, no exponent, no spaces`
}

// notFoundDetail names what is missing: an order by the ID the shopper chose.
func notFoundDetail(err error) string {
	switch {
	case errors.Is(err, checkout.ErrPaymentNotFound) && checkoutError(err).PaymentID != "":
		return fmt.Sprintf("this account has no order %q", checkoutError(err).PaymentID)
	case errors.Is(err, checkout.ErrPaymentNotFound):
		return "this account has no such order"
	case errors.Is(err, giftcard.ErrNotFound) && (cardError(err).Op == "transfer" || cardError(err).Op == "merge"):
		return "there is no such card: check the IDs of both cards"
	case errors.Is(err, giftcard.ErrNotFound):
		return "there is no such card"
	case errors.Is(err, wallet.ErrHoldNotFound):
		return "there is no open hold of this ID: it may have been captured, released or expired"
	}
	return "there is nothing here"
}

// conflictDetail explains a request that the state of a card, an order or a
// hold does not allow.
func conflictDetail(err error) string {
	switch ce, cd := checkoutError(err), cardError(err); {
	case errors.Is(err, checkout.ErrInvalidState) && ce.State != 0:
		return fmt.Sprintf("the order is %s, so it cannot be %s", ce.State, pastParticiple(ce.Op))
	case errors.Is(err, checkout.ErrInvalidState):
		return "the order is not in a state that allows this"
	case errors.Is(err, giftcard.ErrInvalidTransition) && cd.State != 0:
		return fmt.Sprintf("the card is %s, so it cannot be %s", cd.State, pastParticiple(cd.Op))
	case errors.Is(err, wallet.ErrForeignHold):
		return "this hold belongs to a payment, which alone may capture or release it"
	case errors.Is(err, wallet.ErrDuplicateHold):
		return "a hold of this ID is already open"
	case errors.Is(err, giftcard.ErrCancelWindow) && cd.Detail != "":
		return "this card cannot be cancelled: " + cd.Detail
	case errors.Is(err, giftcard.ErrCancelWindow):
		return "this card was issued longer ago than the programme allows a card to be cancelled: void it instead"
	}
	return "the request conflicts with the current state"
}

// pastParticiple turns an operation's name into the words after "cannot
// be": "capture" into "captured".
func pastParticiple(op string) string {
	if p, ok := pastParticiples[op]; ok {
		return p
	}
	return "changed this way"
}

var pastParticiples = map[string]string{
	"pay": "paid", "capture": "captured", "refund": "refunded", "cancel": "cancelled", "resume": "resumed",
	"issue": "issued", "activate": "activated", "redeem": "redeemed", "block": "blocked", "unblock": "unblocked", "void": "voided",
	"adjust": "adjusted", "clawback": "clawed back", "reload": "reloaded", "transfer": "moved", "merge": "merged", "load": "loaded",
}

// currencyDetail explains amounts in currencies that do not go together.
func currencyDetail(err error) string {
	if ce := cardError(err); ce.Detail != "" && (ce.Op == "adjust" || ce.Op == "clawback") {
		return ce.Detail + ": give the amount in that currency" // "the card holds EUR"
	}
	if m, detail := paidCard(err), checkoutError(err).Detail; m != "" && strings.Contains(detail, " holds ") {
		return "the " + detail + ", not the order's currency" // "gift card ****-******-*8DM3 holds USD"
	}
	switch we := walletError(err); {
	case strings.HasPrefix(we.Detail, "the card holds "): // a reload, a transfer
		return we.Detail + ": give the amount in that currency"
	case strings.HasPrefix(we.Detail, "the cards hold "): // a transfer between currencies
		return we.Detail + ": value moves only between cards of one currency"
	}
	if we := walletError(err); we.Currency.IsValid() {
		return fmt.Sprintf("this service keeps no balances in %s", we.Currency.Code())
	}
	return "these amounts are in different currencies: use the currency of the order, or of the balance"
}

// fundsDetail says what the balance, or a card, has and what was asked.
func fundsDetail(err error) string {
	if we := walletError(err); we.Op == "transfer" && we.Amount.IsValid() && we.Available.IsValid() {
		return fmt.Sprintf("the card has %s available to move, less than the %s asked for", we.Available, we.Amount)
	}
	if we := walletError(err); we.Amount.IsValid() && we.Available.IsValid() {
		return fmt.Sprintf("the balance has %s available, less than the %s asked for", we.Available, we.Amount)
	}
	return "the balance is too low for this"
}

// expiredDetail says whether the card or the order's hold expired.
func expiredDetail(err error) string {
	if errors.Is(err, checkout.ErrExpired) {
		return "the order was not captured before its hold lapsed, so its payment was unwound: nothing was charged"
	}
	if m := paidCard(err); m != "" {
		return "the gift card " + m + " has expired"
	}
	return thisCard(err) + " has expired"
}

// declinedDetail says which part of an order the processor declined (the
// bank card's part, not the order's total) and why.
func declinedDetail(err error) string {
	ce := checkoutError(err)
	var msg string
	switch {
	case ce.Op == "refund" && ce.Amount.IsValid():
		msg = fmt.Sprintf("the bank card did not take the refund of %s", ce.Amount)
	case ce.Op == "refund":
		msg = "the bank card did not take the refund"
	case ce.Amount.IsValid():
		msg = fmt.Sprintf("the bank card was declined for its part of the order, %s", ce.Amount)
	default:
		msg = "the bank card was declined"
	}
	reason := ce.Detail
	if de := (*checkout.DeclineError)(nil); errors.As(err, &de) {
		reason = de.Reason
	}
	if reason != "" {
		msg += fmt.Sprintf(" (the processor's reason: %s)", reason)
	}
	switch te := tendered(err); {
	case ce.Op == "refund":
	case te != nil && te.guest:
		msg += "; nothing was charged, and the gift cards are as they were"
	case te != nil:
		msg += "; nothing was charged, and the gift cards and the balance are as they were"
	default:
		msg += "; nothing was charged, and the balance is as it was"
	}
	return msg
}
