"""The operator's command line of ec2-domain-join (`ec2-domain-join --help`)."""
