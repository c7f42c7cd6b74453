module github.com/plumtree-go/plumtree/transport-tcp

go 1.26

require (
	github.com/plumtree-go/plumtree/core v0.0.0
	go.uber.org/goleak v1.3.0
	pgregory.net/rapid v1.3.0
)

replace github.com/plumtree-go/plumtree/core => ../core

