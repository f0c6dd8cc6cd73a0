module github.com/flowlens/flowlens

go 1.26.8

require (
	golang.org/x/sys v0.50.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
