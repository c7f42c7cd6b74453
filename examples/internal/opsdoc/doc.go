// Package opsdoc holds the test that keeps docs/operations.md, the
// operations guide, and the code in step: every configuration field of
// core.Config, every metric metrics-prom exports and every log message of
// the modules is documented there, and everything the guide names exists.
// It lives in examples because that module requires every other one.
package opsdoc
