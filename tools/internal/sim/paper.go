package sim

// The paper's numbers (Leitão, Pereira, Rodrigues, "Epidemic Broadcast
// Trees", SRDS 2007, Section 4), at its scale of 10,000 nodes.
const (
	PaperNodes = 10000

	PaperFloodRMR     = 3.0
	PaperFloodPayload = 39984.0 // payload messages received per broadcast
	PaperPlumPayload  = 9999.0  // n − 1
	PaperPlumControl  = 29987.0 // single sender
	PaperPlumCtlOpt   = 38976.0 // optimised, many senders

	PaperFloodLDH   = 9.0  // read off Fig. 2c
	PaperPlumLDH    = 10.0 // single sender
	PaperPlumOptLDH = 8.5  // single sender, Algorithm 4
	PaperManyOptLDH = 17.0 // many senders, Algorithm 4
	PaperManyLDH    = 60.0 // many senders, plain
)

// PaperMassive is the reliability (%) of the first broadcast after a
// massive failure of the given percentage of nodes (Fig. 6a; the same for
// flood and Plumtree).
var PaperMassive = map[int]float64{
	10: 100, 20: 100, 30: 100, 40: 99, 50: 95, 60: 56, 70: 15, 80: 0, 90: 0,
}

// PaperHeal is the number of cycles the paper needs to regain full
// reliability after a massive failure: 1 for 20–70 %, 2–4 for 80–90 %.
func PaperHeal(pct int) (lo, hi int) {
	switch {
	case pct <= 10:
		return 0, 1
	case pct <= 70:
		return 1, 1
	default:
		return 2, 4
	}
}

// paperScale scales a message count of the paper to n nodes.
func paperScale(v float64, n int) float64 { return v * float64(n) / PaperNodes }
