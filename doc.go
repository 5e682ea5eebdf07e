// Package giftkit is an embeddable library for gift cards: activation codes,
// single-use redemption into an account balance, cards spent directly, and
// split-tender checkout that spends cards given by code first (soonest
// lapse first), then the balance, and charges a bank card for the rest.
//
// This root package holds the vocabulary every other package shares:
// [Currency] and [Money], an exact amount that never touches float64 and
// never rounds silently; [ValueClass], where money came from; [Actor],
// who makes a change ([WithActor], [WithReason]); the kinds of failure
// every error wraps; [Store], the unit of work every service runs on; and
// [Observer], the hooks through which services report their calls.
//
// # Packages
//
//   - [github.com/giftkit/giftkit/codefmt]: parsing, normalising, generating,
//     formatting and masking the 15-character activation codes
//     (XXXX-XXXXXX-XXXXX) with a check that catches every typo and swap.
//   - [github.com/giftkit/giftkit/giftcard]: cards, issuance, life cycle,
//     the rules of single-use redemption, programmes, import of another
//     programme's codes, CSV export, cancel and batch tags.
//   - [github.com/giftkit/giftkit/wallet]: account balances: redemption into
//     them, holds, captures, refunds, expiry and the journal; balance checks
//     by code, loads, and reloads, transfers, merges, blocks, adjustments
//     and fees on cards.
//   - [github.com/giftkit/giftkit/checkout]: split-tender payment, cards
//     given by code first (soonest lapse first), then the balance, then the
//     bank card, as a recoverable saga.
//   - [github.com/giftkit/giftkit/activity]: the record of every change to a
//     card or account, with its actor and reason, chained by digests.
//   - [github.com/giftkit/giftkit/ledger]: the operator's reads of that log
//     and the reports (liability at any instant, cohorts, dormancy).
//   - [github.com/giftkit/giftkit/outbox]: domain events, committed with
//     the changes they describe, read by consumers with cursors of their
//     own; [github.com/giftkit/giftkit/webhook] delivers them as signed
//     Standard Webhooks.
//   - [github.com/giftkit/giftkit/egift]: e-gift cards sent at a chosen
//     time, their codes sealed until sent, then erased.
//   - [github.com/giftkit/giftkit/memstore]: the embedded store;
//     github.com/giftkit/giftkit/pgstore (a module of its own): the
//     PostgreSQL store for many instances sharing one database;
//     [github.com/giftkit/giftkit/storetest]: the suite every store passes.
//
// The packages are pure domain code: values with methods that take the time
// as an argument, and services that run each use case in one unit of work
// on a [Store]. Every state-changing call carries an idempotency key.
//
// # The whole flow
//
//	store := memstore.New()                               // or a PostgreSQL store
//	hasher, _ := giftcard.NewHasher(secret)               // 32+ bytes, outside the database
//	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: time.Now})
//	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: time.Now})
//	shop, _ := checkout.NewService(store, processor, checkout.Config{Now: time.Now})
//
//	// A card is issued; its code is printed and never stored.
//	batch, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("50", giftkit.EUR)}, "issue-1")
//
//	// The shopper types the code however they like (" gnn8 1bykms 00d7r "); the
//	// value is credited once.
//	_, err := accounts.Redeem(ctx, "ana", batch.Cards[0].Code.String(), "redeem-1")
//
//	// At checkout cards given by code pay first (PayRequest.Codes), then the
//	// balance, and the bank card the rest.
//	p, err := shop.Pay(ctx, checkout.PayRequest{PaymentID: "A-1002", Owner: "ana",
//		Total: giftkit.MustParseMoney("80", giftkit.EUR), Instrument: cardToken}, "pay-A-1002")
//	// p.Balance.Captured = 50.00 EUR, p.Card.Captured = 30.00 EUR
//
//	page, _ := accounts.History(ctx, "ana", giftkit.EUR, 0, 50) // the statement
//
// examples/journey runs this flow step by step; examples/httpserver serves
// it over HTTP.
//
// # Errors
//
// Every refusal wraps exactly one kind: [ErrInvalid], [ErrNotFound],
// [ErrConflict], [ErrCurrencyMismatch], [ErrInsufficientFunds],
// [ErrExpired], [ErrDeclined], [ErrUnavailable] or [ErrRateLimited]. A
// caller that only decides what to do next asks [KindOf] (or errors.Is with
// a kind); one that needs the detail asks for the package's own sentinel
// (wallet.ErrHoldNotFound wraps ErrNotFound) or its typed error, which
// carries the operation and the values involved. An error that wraps no
// kind is the store's or the context's: retry with the same key.
//
// # Money
//
// A [Money] is an int64 count of a currency's minor units. Constructors
// reject amounts with more decimals than the currency has ([ErrPrecision]);
// arithmetic returns [ErrOverflow] rather than wrapping and
// [ErrCurrencyMismatch] across currencies; [Money.Allocate] splits an amount
// by weights so that the parts sum back exactly. All errors are
// [*AmountError] values that unwrap to those sentinels. Money and Currency are
// immutable values, safe for concurrent use.
//
//	price := giftkit.MustParseMoney("12.50", giftkit.EUR)
//	card, err := giftkit.NewMoney(decimal.RequireFromString("20"), giftkit.EUR)
//	rest, err := card.Sub(price) // 7.50 EUR
//	parts, err := price.Split(3) // 4.17 EUR, 4.17 EUR, 4.16 EUR
package giftkit
