// Package bench measures giftkit side by side with its peers, in a module
// of its own so that the peers never become dependencies of giftkit:
// Money's arithmetic against github.com/shopspring/decimal and
// github.com/govalues/money, and the activation-code parser against a bare
// Crockford base-32 decode of the same 15 characters (no Unicode, no
// check). It has no code, only benchmarks; scripts/bench runs them with
// the library's own hot-path benchmarks, rounds interleaved, and compares
// them with benchstat.
package bench
