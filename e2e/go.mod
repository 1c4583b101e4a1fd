module coracle.dev/e2e

go 1.26
