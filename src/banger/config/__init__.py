"""banger.config"""
