# Example values (the accounts and directory of examples/landing-zone.yaml): replace them with yours.
security_account_id = "111111111111"
home_region         = "eu-west-1"
config_table_name   = "domain-join-config"
accounts = {
  "222222222222" = {
    domain                  = "corp.example.com"
    dns_ips                 = ["10.0.0.10", "10.0.1.10"]
    join_user               = "svc-domainjoin"
    join_password_parameter = "/domain-join/join-password"
    regions                 = ["eu-west-1", "eu-central-1"]
    ou                      = "OU=EC2,OU=Servers,DC=corp,DC=example,DC=com"
    computer_name_prefix    = "EC2"
    sudo_group              = "linux-admins"
    install_packages        = false
    ou_tag_key              = "Environment"
    ou_by_tag = {
      prod = "OU=Prod,DC=corp,DC=example,DC=com"
      dev  = "OU=Dev,DC=corp,DC=example,DC=com"
    }
    computer_name_tag = "Name"
  }
  "333333333333" = {
    domain                  = "corp.example.com"
    dns_ips                 = ["10.0.0.10"]
    join_user               = "svc-domainjoin"
    join_password_parameter = "/domain-join/join-password"
    regions                 = ["eu-west-1"]
    seal_join_passwords     = true
  }
}
