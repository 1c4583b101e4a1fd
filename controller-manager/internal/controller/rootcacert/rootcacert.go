// Package rootcacert is the root CA certificate publisher: every active
// namespace has a ConfigMap "kube-root-ca.crt" whose key "ca.crt" holds
// the cluster CA, so pods can verify the apiserver.
package rootcacert

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"coracle.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "root-ca-certificate-publisher-controller"

// ConfigMapName and DataKey name what every namespace gets.
const (
	ConfigMapName = "kube-root-ca.crt"
	DataKey       = "ca.crt"
	// DescriptionAnnotation is set as Kubernetes sets it.
	DescriptionAnnotation = "kubernetes.io/description"
	description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Controller publishes the root CA.
type Controller struct {
	*controller.Base
	client   kubernetes.Interface
	rootCA   string
	nsLister corelisters.NamespaceLister
	cmLister corelisters.ConfigMapLister
}

// New builds the controller; with no CA to publish it has nothing to do
// and returns a nil Runner.
func New(c controller.Context) (controller.Runner, error) {
	if len(bytes.TrimSpace(c.Settings.RootCA)) == 0 {
		c.Log.Warn("no root CA to publish: give --root-ca-file or a kubeconfig with certificate-authority-data")
		return nil, nil
	}
	nsInf := c.Informers.Core().V1().Namespaces()
	cmInf := c.Informers.Core().V1().ConfigMaps()
	ctl := &Controller{client: c.Client, rootCA: string(c.Settings.RootCA), nsLister: nsInf.Lister(), cmLister: cmInf.Lister()}
	ctl.Base = controller.NewBase(c, ctl.sync)
	onCM := func(cm *corev1.ConfigMap) {
		if cm.Name == ConfigMapName {
			ctl.Enqueue(cm.Namespace)
		}
	}
	return ctl, errors.Join(
		ctl.Watch(nsInf.Informer(), ctl.Objects()),
		ctl.Watch(cmInf.Informer(), controller.Handlers[*corev1.ConfigMap]{Update: func(_, cm *corev1.ConfigMap) { onCM(cm) }, Delete: onCM}),
	)
}

func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.nsLister.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	cm, err := c.cmLister.ConfigMaps(namespace).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: namespace, Annotations: map[string]string{DescriptionAnnotation: description}},
			Data:       map[string]string{DataKey: c.rootCA},
		}, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		return fmt.Errorf("create configmap %s/%s: %w", namespace, ConfigMapName, err)
	}
	if err != nil {
		return err
	}
	if cm.Data[DataKey] == c.rootCA && len(cm.Data) == 1 && cm.Annotations[DescriptionAnnotation] == description {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = map[string]string{DataKey: c.rootCA}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = description
	if _, err := c.client.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update configmap %s/%s: %w", namespace, ConfigMapName, err)
	}
	return nil
}
