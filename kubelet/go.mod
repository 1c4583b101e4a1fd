module coracle.dev/kubelet

go 1.26.0

require coracle.dev/shared v0.0.0

replace (
	coracle.dev/apiserver => ../apiserver
	coracle.dev/shared => ../shared
)
