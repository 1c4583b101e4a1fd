// Package objects gathers the objects a command acts on: the documents of
// its -f sources (files, directories, URLs, standard input) mapped to their
// resources, or what TYPE NAME..., TYPE/NAME... and TYPE with -l or --all
// name on the server; and it patches them. It is the part of kubectl's
// resource builder that ctl's commands share.
package objects

import (
	"fmt"

	"github.com/spf13/cobra"

	"coracle.dev/ctl/internal/cmdenv"
	"coracle.dev/ctl/internal/manifest"
	"coracle.dev/ctl/internal/resource"
)

// Files are -f and -R.
type Files struct {
	Filenames []string
	Recursive bool
}

// Add registers -f and -R on cmd; usage ends the -f help ("Filename,
// directory, or URL to files " + usage).
func (f *Files) Add(cmd *cobra.Command, usage string) {
	cmd.Flags().StringSliceVarP(&f.Filenames, "filename", "f", nil, "Filename, directory, or URL to files "+usage)
	cmd.Flags().BoolVarP(&f.Recursive, "recursive", "R", false, "Process the directory used in -f, --filename recursively. Useful when you want to manage related manifests organized within the same directory.")
	_ = cmd.MarkFlagFilename("filename", "json", "yaml", "yml")
}

// Item is one document of the -f sources: an object ready to send, or why
// it is not.
type Item struct {
	Info *resource.Info
	Err  error
}

// Load reads the sources and maps each object to its resource, putting
// namespaced objects without a namespace into ns. With explicit (-n
// given), an object naming another namespace is refused, as kubectl
// refuses it.
func Load(env *cmdenv.Env, r *resource.Resolver, files *Files, ns string, explicit bool) ([]Item, error) {
	reader := &manifest.Reader{Stdin: env.In}
	docs, err := reader.Read(files.Filenames, files.Recursive)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no objects passed to %s", "the command")
	}
	items := make([]Item, 0, len(docs))
	for _, d := range docs {
		item := Item{Err: d.Err}
		if d.Err == nil {
			item.Info, item.Err = toInfo(r, d, ns, explicit)
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

// Read is Load for commands that need every document to be good.
func Read(env *cmdenv.Env, r *resource.Resolver, files *Files, ns string, explicit bool) ([]*resource.Info, error) {
	items, err := Load(env, r, files, ns, explicit)
	if err != nil {
		return nil, err
	}
	var infos []*resource.Info
	for _, it := range items {
		if it.Err != nil {
			return nil, it.Err
		}
		infos = append(infos, it.Info)
	}
	return infos, nil
}
