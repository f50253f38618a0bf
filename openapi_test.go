package ftpgw_test

import (
	"context"
	"testing"

	"github.com/ftpgw/ftpgw"
	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIValid loads openapi.yaml as kin-openapi does for a code
// generator and validates it as OpenAPI 3.2 (for the WebDAV methods, additionalOperations): its examples against their
// schemas too. Every operation has an operationId, for the functions a
// generator names after them. (api's tests check it against the router
// and real responses.)
func TestOpenAPIValid(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(ftpgw.OpenAPI()))
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi: %s, want 3.2", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + p
			switch {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", where)
			case seen[op.OperationID] != "":
				t.Errorf("%s and %s share operationId %s", where, seen[op.OperationID], op.OperationID)
			}
			seen[op.OperationID] = where
			if op.Responses.Len() == 0 {
				t.Errorf("%s has no responses", where)
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no operations")
	}
}
