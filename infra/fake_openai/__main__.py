import sys

from infra.fake_openai.cli import main

sys.exit(main())
