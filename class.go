package giftkit

import "fmt"

// A ValueClass says where money held on a card or an account came from,
// which decides how it is spent and how the business accounts for it.
// Credits of different classes are kept apart (see wallet.Lot).
//
// Spending order: credits that expire soonest are spent first; among
// credits that expire at the same instant (or never), promotional value
// first, then adjustments, then refund credit, and purchased value last,
// so that what the shopper paid for lasts longest (as Stripe's credit
// grants and Spree's store-credit categories do). [ValueClass.SpendRank]
// is that order.
//
// The zero ValueClass is not a valid class.
type ValueClass uint8

// The value classes.
const (
	ClassPurchased   ValueClass = iota + 1 // value someone paid for: a sold card
	ClassPromotional                       // value given away: a promotional card, a marketing credit
	ClassRefund                            // money returned: a refund or a compensation credit
	ClassAdjustment                        // an operator's correction or goodwill credit
)

var classNames = [...]string{"", "purchased", "promotional", "refund", "adjustment"}

// Classes lists the value classes in the order of their constants.
func Classes() []ValueClass {
	return []ValueClass{ClassPurchased, ClassPromotional, ClassRefund, ClassAdjustment}
}

// IsValid reports whether c is one of the value classes.
func (c ValueClass) IsValid() bool { return c > 0 && int(c) < len(classNames) }

// String returns the class's lower-case name, such as "promotional".
func (c ValueClass) String() string {
	if c.IsValid() {
		return classNames[c]
	}
	return fmt.Sprintf("ValueClass(%d)", uint8(c))
}

// MarshalText encodes the class as its name.
func (c ValueClass) MarshalText() ([]byte, error) {
	if !c.IsValid() {
		return nil, fmt.Errorf("giftkit: marshal invalid %v", c)
	}
	return []byte(classNames[c]), nil
}

// UnmarshalText decodes a class's name.
func (c *ValueClass) UnmarshalText(text []byte) error {
	for i, name := range classNames {
		if i > 0 && name == string(text) {
			*c = ValueClass(i)
			return nil
		}
	}
	return fmt.Errorf("giftkit: unknown value class %q: %w", text, ErrInvalid)
}

// SpendRank orders classes for spending among credits that expire at the
// same instant: lower ranks are spent first.
func (c ValueClass) SpendRank() int {
	switch c {
	case ClassPromotional:
		return 0
	case ClassAdjustment:
		return 1
	case ClassRefund:
		return 2
	default:
		return 3
	}
}
