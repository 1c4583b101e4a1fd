package endpoints

import (
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/munnerz/goautoneg"
)

// output is the form a response takes.
type output int

const (
	outJSON output = iota
	outYAML
	outTable
	outMetadata // PartialObjectMetadata(List)
)

// negotiate picks the output form from the Accept header. Protobuf and CBOR
// are not served; a client that accepts nothing else gets 406.
func negotiate(accept string) (output, error) { return negotiateFor(accept, true) }

// negotiateFor is negotiate for a kind that has tables and metadata
// (stored kinds) or not (the review kinds, whose answers are no objects
// to list: as Kubernetes, 406 for a client that accepts only those).
func negotiateFor(accept string, tables bool) (output, error) {
	if strings.TrimSpace(accept) == "" {
		return outJSON, nil
	}
	for _, a := range goautoneg.ParseAccept(accept) {
		if a.Q == 0 {
			continue
		}
		mt := a.Type + "/" + a.SubType
		switch mt {
		case "application/json":
			switch a.Params["as"] {
			case "":
				return outJSON, nil
			case "Table":
				if tables && a.Params["g"] == "meta.k8s.io" && (a.Params["v"] == "v1" || a.Params["v"] == "v1beta1") {
					return outTable, nil
				}
			case "PartialObjectMetadata", "PartialObjectMetadataList":
				if tables && a.Params["g"] == "meta.k8s.io" && (a.Params["v"] == "v1" || a.Params["v"] == "v1beta1") {
					return outMetadata, nil
				}
			}
		case "application/yaml":
			if a.Params["as"] == "" {
				return outYAML, nil
			}
		case "*/*", "application/*":
			return outJSON, nil
		}
	}
	return outJSON, statusError(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io")
}
