module github.com/giftkit/giftkit/lincheck

go 1.23.0

replace github.com/giftkit/giftkit => ../

replace github.com/giftkit/giftkit/pgstore => ../pgstore

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/giftkit/giftkit v0.0.0
	github.com/jackc/pgx/v5 v5.7.5
)

require (
	github.com/giftkit/giftkit/pgstore v0.0.0
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.2 // indirect
	github.com/shopspring/decimal v1.4.0 // indirect
	golang.org/x/crypto v0.37.0 // indirect
	golang.org/x/sync v0.13.0 // indirect
	golang.org/x/text v0.24.0 // indirect
	pgregory.net/rapid v1.2.0 // indirect
)
