#!/usr/bin/env bash
# Source this: where the shared toolkits are beside the checkout, build CmdStan 2.35 and
# BridgeStan 2.7.0 from them once per machine (about 10-15 minutes on 2 cores the first
# time, nothing after) and export BRIDGESTAN, so the tests of the BridgeStan path run
# (tests/cases/test_stan_program.py); without the kits those tests skip with the reason.
# They go to ~/.nextstat-kits, not ~/.cmdstan, so that cmdstanpy does not find CmdStan by
# itself and the Stan engine's tests keep running on PyStan as on any machine without it.
# The tool itself depends on neither kit.
KITS_DIR=${NEXTSTAT_KITS:-$HOME/.nextstat-kits}
SHARED_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/tools
if [ -f "$SHARED_TOOLS/bridgestan/build.sh" ] && [ -f "$SHARED_TOOLS/cmdstan/build.sh" ]; then
  if [ ! -x "$KITS_DIR/cmdstan-2.35.0/bin/stanc" ] || [ ! -d "$KITS_DIR/cmdstan-2.35.0/stan/src" ]; then
    echo "ci: building CmdStan 2.35 from the shared kit (once per machine)"
    DEST=$KITS_DIR/cmdstan-2.35.0 bash "$SHARED_TOOLS/cmdstan/build.sh" > /tmp/nextstat-cmdstan-build.log 2>&1 \
      || { echo "ci: CmdStan kit build failed (see /tmp/nextstat-cmdstan-build.log); BridgeStan tests will skip"; }
  fi
  if [ -x "$KITS_DIR/cmdstan-2.35.0/bin/stanc" ] && [ ! -f "$KITS_DIR/bridgestan-2.7.0/Makefile" ]; then
    echo "ci: setting up BridgeStan 2.7.0 from the shared kit"
    CMDSTAN=$KITS_DIR/cmdstan-2.35.0 DEST=$KITS_DIR/bridgestan-2.7.0 bash "$SHARED_TOOLS/bridgestan/build.sh" \
      > /tmp/nextstat-bridgestan-build.log 2>&1 \
      || { echo "ci: BridgeStan kit failed (see /tmp/nextstat-bridgestan-build.log); its tests will skip"; }
  fi
  if [ -f "$KITS_DIR/bridgestan-2.7.0/Makefile" ]; then
    export BRIDGESTAN=$KITS_DIR/bridgestan-2.7.0
  fi
fi
