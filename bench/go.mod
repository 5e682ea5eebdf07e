module github.com/giftkit/giftkit/bench

go 1.24

require (
	github.com/giftkit/giftkit v0.1.0
	github.com/govalues/money v0.2.4
	github.com/shopspring/decimal v1.6.0
)

require github.com/govalues/decimal v0.1.36 // indirect
