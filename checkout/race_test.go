//go:build race

package checkout_test

const raceEnabled = true
