package sim

import (
	"sync"
)

// RunAll runs the specs on up to parallel goroutines and returns the
// results in spec order (so the output does not depend on parallel).
// progress, if not nil, is called from the workers (serialise it) with the
// run index and the run's cycle.
func RunAll(specs []Spec, parallel int, progress func(run, cycle, cycles int)) (Results, error) {
	if parallel < 1 {
		parallel = 1
	}
	out := make(Results, len(specs))
	errs := make([]error, len(specs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var pf Progress
				if progress != nil {
					pf = func(c, n int) { progress(i, c, n) }
				}
				out[i], errs[i] = Run(specs[i], pf)
			}
		}()
	}
	for i := range specs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
