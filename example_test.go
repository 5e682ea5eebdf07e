package giftkit_test

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/giftkit/giftkit"
)

func ExampleParseMoney() {
	price, err := giftkit.ParseMoney("12.50", giftkit.EUR)
	fmt.Println(price, err)

	_, err = giftkit.ParseMoney("12.505", giftkit.EUR)
	fmt.Println(errors.Is(err, giftkit.ErrPrecision), err)
	// Output:
	// 12.50 EUR <nil>
	// true giftkit: parse "12.505" EUR: more decimal places than the currency has
}

func ExampleNewMoney() {
	yen, err := giftkit.NewMoney(decimal.RequireFromString("1500"), giftkit.JPY)
	fmt.Println(yen, yen.Minor(), err)
	// Output:
	// 1500 JPY 1500 <nil>
}

func ExampleMoney_Sub() {
	balance := giftkit.MustParseMoney("20.00", giftkit.EUR)
	order := giftkit.MustParseMoney("12.50", giftkit.EUR)
	rest, err := balance.Sub(order)
	fmt.Println(rest, err)

	_, err = balance.Sub(giftkit.MustParseMoney("5", giftkit.USD))
	fmt.Println(errors.Is(err, giftkit.ErrCurrencyMismatch))
	// Output:
	// 7.50 EUR <nil>
	// true
}

// A refund of 10.00 EUR on an order paid 7.00 EUR by card and 3.00 EUR from
// the balance, split in proportion to the tenders.
func ExampleMoney_Allocate() {
	refund := giftkit.MustParseMoney("10.00", giftkit.EUR)
	parts, err := refund.Allocate(700, 300)
	fmt.Println(parts, err)

	thirds, _ := giftkit.MustParseMoney("1.00", giftkit.EUR).Split(3)
	fmt.Println(thirds)
	// Output:
	// [7.00 EUR 3.00 EUR] <nil>
	// [0.34 EUR 0.33 EUR 0.33 EUR]
}

func ExampleNewCurrency() {
	points, err := giftkit.NewCurrency("PTS", 0)
	fmt.Println(giftkit.FromMinor(250, points), err)
	// Output:
	// 250 PTS <nil>
}
