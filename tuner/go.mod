module github.com/plumtree-go/plumtree/tuner

go 1.26

require pgregory.net/rapid v1.3.0
