// Package fares computes Varnholt tram fares.
package fares

// Zone surcharge in cents for each zone beyond the first.
const zoneSurcharge = 85

// Fare returns the adult fare in cents for a trip across the given number of zones.
func Fare(zones int) int {
	return 240 + zoneSurcharge*(zones-1)
}

// Concession halves the fare for holders of a Silver Pass, rounding up.
func Concession(fare int) int {
	return (fare + 1) / 2
}
