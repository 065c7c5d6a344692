# seatsync: `make run` for the whole product locally, `make test` for the tests.
# Both install what they need (Go modules, Azurite from package-lock.json).
SHELL := bash
GO ?= go
GOFLAGS_DIST := -trimpath -ldflags '-s -w'

.PHONY: run test bench dist build deps fmt-check vet fuzz clean

# npm ci only when the lock file changed since the last install.
node_modules/.seatsync-installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.seatsync-installed
	$(GO) mod download

build: deps
	$(GO) build -o bin/seatsync ./functions
	$(GO) build -o bin/mscloudsim ./tools/mscloudsim

## run: Azurite, the Microsoft cloud simulator (25 tenants), then seatsync
## serve pointed at it; prints the API key and URLs to try.
run: build
	@scripts/run

## test: gofmt, go vet, then every test with Azurite started in memory.
test: deps fmt-check vet
	scripts/with-azurite $(GO) test -race -count=1 ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## bench: the benchmarks, with Azurite for the ones that need tables.
bench: deps
	scripts/with-azurite $(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: a short run of each fuzz target beyond its checked-in seeds.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeInvocation -fuzztime 30s ./shared/funchost
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./shared/ncrontab

## dist: the Functions deployment zip (linux/amd64, binary mode 0755).
dist: deps
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(GOFLAGS_DIST) -o dist/seatsync ./functions
	$(GO) run ./tools/distzip -root . -binary dist/seatsync -out dist/seatsync.zip

clean:
	rm -rf bin dist
