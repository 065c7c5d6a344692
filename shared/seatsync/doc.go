// Package seatsync holds seatsync's domain: the tenants, licences, runs and
// connection it keeps, the errors the API and the functions share, and the few
// interfaces more than one function uses. It imports no outside system; the
// adapters (tables, funchost, …) import it, never the other way round.
package seatsync
