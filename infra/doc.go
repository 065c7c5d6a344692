// Package infra holds the Bicep that deploys seatsync to Azure (main.bicep, its modules and
// parameters) and Go tests that check that Bicep offline, by reading its text.
package infra
