// Command sim is the Plumtree simulator: it drives the real core.Protocol of
// thousands of simulated nodes through the evaluation of the Plumtree paper
// (Leitão, Pereira, Rodrigues, "Epidemic Broadcast Trees", SRDS 2007) and
// prints the results beside the paper's numbers.
//
//	go run ./tools/sim                       # 1,000 nodes, every protocol, stable + 50 % failure
//	go run ./tools/sim -nodes 10000 -scenario all -out report
//	go run ./tools/sim -json -seed 7         # one JSON object per run
//
// Progress goes to stderr, results to stdout; the same seed gives
// byte-identical stdout, results.json and results.csv. With -out the
// command also writes report.md (the paper's numbers beside ours, per
// quantity, with the verdict), PNG plots and timings.json (wall time and
// memory, which vary between machines). -replot rebuilds the report from
// saved results.json files.
//
// The model (engines, overlays, protocols, scenarios, metrics) is
// documented in package tools/internal/sim.
package main
