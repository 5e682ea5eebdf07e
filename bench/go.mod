module github.com/giftkit/giftkit/bench

go 1.24

replace github.com/giftkit/giftkit => ../

require (
	github.com/giftkit/giftkit v0.0.0
	github.com/govalues/money v0.2.4
	github.com/shopspring/decimal v1.4.0
)

require github.com/govalues/decimal v0.1.36 // indirect
