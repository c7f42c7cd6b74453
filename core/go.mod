module github.com/plumtree-go/plumtree/core

go 1.26
