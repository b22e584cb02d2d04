# terraform init -backend-config=environments/dev.backend.hcl
bucket       = "sentiment-terraform-state-111122223333"
key          = "sentiment/dev/terraform.tfstate"
region       = "us-east-1"
encrypt      = true
use_lockfile = true
