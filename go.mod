module github.com/flowlens/flowlens

go 1.26.8

require (
	github.com/maxmind/mmdbwriter v1.2.0
	github.com/oschwald/maxminddb-golang/v2 v2.9.0
	golang.org/x/sys v0.50.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/ovn-org/libovsdb v0.7.0 // indirect
	go4.org/netipx v0.0.0-20231129151722-fdeea329fbba // indirect
)
