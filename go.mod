module github.com/ftpgw/ftpgw

go 1.26.8

require (
	github.com/fclairamb/ftpserverlib v0.32.0 // indirect
	github.com/go-chi/chi/v5 v5.5.0 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/spf13/afero v1.15.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)
