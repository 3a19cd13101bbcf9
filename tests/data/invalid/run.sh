#!/usr/bin/env bash
# Test fixture: a blueprint script that only has to exist for validation.
exit 0
