package authn

import "strings"

// The names ServiceAccounts log in as, as k8s.io/apiserver's
// serviceaccount package makes them: the token authenticator, RBAC
// subjects and impersonation all spell them this way.
const (
	ServiceAccountUsernamePrefix = "system:serviceaccount:"
	// AllServiceAccountsGroup holds every ServiceAccount;
	// ServiceAccountNamespaceGroupPrefix + NS those of one namespace.
	AllServiceAccountsGroup            = "system:serviceaccounts"
	ServiceAccountNamespaceGroupPrefix = "system:serviceaccounts:"
)

// ServiceAccountUsername is the user namespace/name's tokens stand for.
func ServiceAccountUsername(namespace, name string) string {
	return ServiceAccountUsernamePrefix + namespace + ":" + name
}

// SplitServiceAccountUsername returns the namespace and name of a
// ServiceAccount user, ok false for any other user.
func SplitServiceAccountUsername(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, ServiceAccountUsernamePrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// ServiceAccountGroups are the groups of a ServiceAccount in namespace.
func ServiceAccountGroups(namespace string) []string {
	return []string{AllServiceAccountsGroup, ServiceAccountNamespaceGroupPrefix + namespace}
}
