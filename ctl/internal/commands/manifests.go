package commands

import (
	"fmt"

	"github.com/spf13/cobra"

	"coracle.dev/ctl/internal/manifest"
	"coracle.dev/ctl/internal/resource"
)

// fileFlags are -f and -R.
type fileFlags struct {
	filenames []string
	recursive bool
}

func (f *fileFlags) add(cmd *cobra.Command, usage string) {
	cmd.Flags().StringSliceVarP(&f.filenames, "filename", "f", nil, "Filename, directory, or URL to files "+usage)
	cmd.Flags().BoolVarP(&f.recursive, "recursive", "R", false, "Process the directory used in -f, --filename recursively. Useful when you want to manage related manifests organized within the same directory.")
	_ = cmd.MarkFlagFilename("filename", "json", "yaml", "yml")
}

// manifestItem is one document of the -f sources: an object ready to
// send, or why it is not.
type manifestItem struct {
	info *resource.Info
	doc  manifest.Doc
	err  error
}

// loadManifests reads the sources and maps each object to its resource,
// putting namespaced objects without a namespace into ns. With explicit
// (-n given), an object naming another namespace is refused, as kubectl
// refuses it.
func loadManifests(env *Env, r *resource.Resolver, sources []string, recursive bool, ns string, explicit bool) ([]manifestItem, error) {
	reader := &manifest.Reader{Stdin: env.In}
	docs, err := reader.Read(sources, recursive)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no objects passed to %s", "the command")
	}
	items := make([]manifestItem, 0, len(docs))
	for _, d := range docs {
		item := manifestItem{doc: d, err: d.Err}
		if d.Err == nil {
			item.info, item.err = toInfo(r, d, ns, explicit)
		}
		items = append(items, item)
	}
	return items, nil
}

func toInfo(r *resource.Resolver, d manifest.Doc, ns string, explicit bool) (*resource.Info, error) {
	obj := d.Object
	m, err := r.MappingFor(obj.GroupVersionKind())
	if err != nil {
		return nil, fmt.Errorf("resource mapping not found for name: %q namespace: %q from %q: no matches for kind %q in version %q\nensure CRDs are installed first", obj.GetName(), obj.GetNamespace(), d.Source, obj.GetKind(), obj.GetAPIVersion())
	}
	info := &resource.Info{Mapping: m, Name: obj.GetName(), Object: obj, Source: d.Source}
	if resource.Namespaced(m) {
		switch objNS := obj.GetNamespace(); {
		case objNS == "":
			obj.SetNamespace(ns)
		case explicit && objNS != ns:
			return nil, fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.", objNS, ns, objNS)
		}
		info.Namespace = obj.GetNamespace()
	} else {
		obj.SetNamespace("")
	}
	return info, nil
}

// readManifests is loadManifests for commands that need every document to
// be good.
func readManifests(env *Env, r *resource.Resolver, sources []string, recursive bool, ns string, explicit bool) ([]*resource.Info, error) {
	items, err := loadManifests(env, r, sources, recursive, ns, explicit)
	if err != nil {
		return nil, err
	}
	var infos []*resource.Info
	for _, it := range items {
		if it.err != nil {
			return nil, it.err
		}
		infos = append(infos, it.info)
	}
	return infos, nil
}
