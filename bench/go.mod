module github.com/flowlens/flowlens/bench

go 1.26.8

replace github.com/flowlens/flowlens => ../

require (
	github.com/flowlens/flowlens v0.0.0-00010101000000-000000000000
	github.com/netsampler/goflow2/v2 v2.2.6
)

require (
	golang.org/x/sys v0.50.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
