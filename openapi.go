package ftpgw

import _ "embed"

// openAPI is openapi.yaml, embedded as a string so that no one can change
// it.
//
//go:embed openapi.yaml
var openAPI string

// OpenAPI returns the gateway's HTTP contract, openapi.yaml (OpenAPI 3.2):
// every route, method, status, header and problem body the api package
// sends. The gateway serves it at /openapi.yaml.
func OpenAPI() string { return openAPI }
