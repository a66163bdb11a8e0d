//! YAML loading with YAML 1.1 scalars (as Ansible reads them) and line numbers.
