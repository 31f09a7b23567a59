"""banger.kernels"""
