package endpoints

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Field validation directives (the fieldValidation query parameter).
const (
	fieldValidationIgnore = "Ignore"
	fieldValidationWarn   = "Warn"
	fieldValidationStrict = "Strict"
)

func fieldValidation(c *gin.Context) (string, error) {
	v := c.Query("fieldValidation")
	switch v {
	case "":
		return fieldValidationWarn, nil
	case fieldValidationIgnore, fieldValidationWarn, fieldValidationStrict:
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation: Unsupported value: %q: supported values: \"Ignore\", \"Strict\", \"Warn\"", v))
}

// readBody reads the request body, refusing more than limit bytes.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	r := http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	data, err := io.ReadAll(r)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	return data, nil
}

// bodyJSON returns the body as JSON, converting YAML bodies.
func bodyJSON(c *gin.Context, data []byte) ([]byte, error) {
	ct := c.GetHeader("Content-Type")
	mt := "application/json"
	if ct != "" {
		parsed, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, unsupportedMediaType(ct)
		}
		mt = parsed
	}
	switch mt {
	case "application/json", "*/*", protobufContentType:
		return data, nil
	case "application/yaml", "application/x-yaml", "text/yaml":
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request is not valid YAML: %v", err))
		}
		return j, nil
	}
	return nil, unsupportedMediaType(ct)
}

func unsupportedMediaType(ct string) error {
	return statusError(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, fmt.Sprintf("the body of the request was in an unknown format (%s) - accepted media types include: application/json, application/yaml", ct))
}

const protobufContentType = "application/vnd.kubernetes.protobuf"

// isProtobuf reports whether the request body is Kubernetes protobuf, as
// kubectl's typed commands (create configmap, scale, drain...) send.
func isProtobuf(data []byte) bool { return bytes.HasPrefix(data, protobufMagic) }

var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// typeMeta is read first, to check a body is of the kind the URL names.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// decodeInto decodes JSON into obj, which must be of apiVersion/kind.
// Unknown and duplicate fields are refused, warned about or ignored per the
// fieldValidation directive, as Kubernetes does.
func (d *decoder) decodeInto(data []byte, obj runtime.Object, apiVersion, kind, validation string) ([]string, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, apierrors.NewBadRequest("the body of the request was empty")
	}
	if isProtobuf(data) {
		return nil, d.decodeProtobuf(data, obj, apiVersion, kind)
	}
	var tm typeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request is not a valid JSON object: %v", jsonErrorText(err)))
	}
	if tm.APIVersion != "" && tm.APIVersion != apiVersion {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", tm.APIVersion, apiVersion))
	}
	if tm.Kind != "" && tm.Kind != kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", tm.Kind, kind))
	}
	gv := schemaGVK(apiVersion, kind).Version
	var strictErrs []error
	var err error
	if u, ok := obj.(*unstructured.Unstructured); ok {
		// A custom resource: any field may be there as far as JSON is
		// concerned (the schema prunes), but duplicates are still
		// refused or warned about.
		var content map[string]interface{}
		strictErrs, err = sigsjson.UnmarshalStrict(data, &content, sigsjson.DisallowDuplicateFields)
		if err == nil && content == nil {
			err = errors.New("the body is not a JSON object")
		}
		u.Object = content
	} else {
		strictErrs, err = sigsjson.UnmarshalStrict(data, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %s", kind, gv, kind, jsonErrorText(err)))
	}
	obj.GetObjectKind().SetGroupVersionKind(schemaGVK(apiVersion, kind))
	msgs := make([]string, len(strictErrs))
	for i, e := range strictErrs {
		msgs[i] = e.Error()
	}
	return strictResult(msgs, kind, gv, validation)
}

// strictResult applies the fieldValidation directive to what strict
// decoding found: nothing, warnings, or a 400 naming every field.
func strictResult(msgs []string, kind, version, validation string) ([]string, error) {
	if len(msgs) == 0 || validation == fieldValidationIgnore {
		return nil, nil
	}
	if validation == fieldValidationStrict {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: strict decoding error: %s", kind, version, kind, strings.Join(msgs, ", ")))
	}
	return msgs, nil
}

func jsonErrorText(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%v (at byte %d)", syn, syn.Offset)
	}
	return err.Error()
}

// decodeProtobuf decodes a protobuf body, which must hold apiVersion/kind.
func (d *decoder) decodeProtobuf(data []byte, obj runtime.Object, apiVersion, kind string) error {
	_, gvk, err := d.protobuf.Decode(data, nil, obj)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", kind, schemaGVK(apiVersion, kind).Version, kind, err))
	}
	if gvk.GroupVersion().String() != apiVersion {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), apiVersion))
	}
	if gvk.Kind != kind {
		return apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", gvk.Kind, kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(schemaGVK(apiVersion, kind))
	return nil
}

// decoder decodes request bodies: JSON (and YAML converted to JSON) with
// Kubernetes' strictness rules, or protobuf through the scheme.
type decoder struct {
	protobuf runtime.Decoder
}

func newDecoder(scheme *runtime.Scheme) *decoder {
	return &decoder{protobuf: protobuf.NewSerializer(scheme, scheme)}
}

// decodeOptions decodes an options body (DeleteOptions, ...) leniently.
func (d *decoder) decodeOptions(data []byte, into runtime.Object) error {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	if isProtobuf(data) {
		if _, _, err := d.protobuf.Decode(data, nil, into); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded: %v", err))
		}
		return nil
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, into); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded: %s", jsonErrorText(err)))
	}
	return nil
}

func schemaGVK(apiVersion, kind string) schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}
