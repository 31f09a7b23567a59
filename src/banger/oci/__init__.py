"""banger.oci"""
