//go:build race

package clienttest

// raceEnabled: the tests run under -race, so the gateway is built with it
// too, and a race the clients provoke in it fails the test.
const raceEnabled = true
