package processortest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
)

// Script a decline, then a lost reply, and see the processor stay idempotent.
func Example() {
	ctx := context.Background()
	bank := processortest.New()
	ten := giftkit.MustParseMoney("10.00", giftkit.EUR)

	bank.Queue(processortest.OpAuthorize, processortest.Decline, processortest.LoseReply)
	_, err := bank.Authorize(ctx, "tok_visa", ten, "order-1/auth")
	fmt.Println(errors.Is(err, checkout.ErrDeclined))

	_, err = bank.Authorize(ctx, "tok_visa", ten, "order-2/auth") // authorised, but the reply is lost
	fmt.Println(errors.Is(err, processortest.ErrTransport))

	id, err := bank.Authorize(ctx, "tok_visa", ten, "order-2/auth") // the retry learns the authorisation
	fmt.Println(id, err, len(bank.Auths()))
	// Output:
	// true
	// true
	// auth_0001 <nil> 1
}
