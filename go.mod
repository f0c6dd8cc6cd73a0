module github.com/flowlens/flowlens

go 1.26.8
